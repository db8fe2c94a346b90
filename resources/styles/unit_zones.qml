<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis hasScaleBasedVisibilityFlag="0" labelsEnabled="0" maxScale="0" minScale="100000000" readOnly="0" simplifyAlgorithm="0" simplifyDrawingHints="1" simplifyDrawingTol="1" simplifyLocal="1" simplifyMaxScale="1" styleCategories="AllStyleCategories" symbologyReferenceScale="-1" version="3.22">
 <flags>
  <Identifiable>1</Identifiable>
  <Removable>1</Removable>
  <Searchable>1</Searchable>
  <Private>0</Private>
 </flags>
 <temporal accumulate="0" durationField="" durationUnit="min" enabled="0" endExpression="" endField="" fixedDuration="0" limitMode="0" mode="0" startExpression="" startField="">
  <fixedRange>
   <start />
   <end />
  </fixedRange>
 </temporal>
 <renderer-v2 attr="ls_zone" enableorderby="0" forceraster="0" referencescale="-1" symbollevels="0" type="categorizedSymbol">
  <categories>
   <category label="no data" render="true" symbol="0" value="0" />
   <category label="Very low" render="true" symbol="1" value="1" />
   <category label="Low" render="true" symbol="2" value="2" />
   <category label="Moderate" render="true" symbol="3" value="3" />
   <category label="High" render="true" symbol="4" value="4" />
   <category label="Very high" render="true" symbol="5" value="5" />
  </categories>
  <symbols>
   <symbol alpha="1" clip_to_extent="1" force_rhr="0" name="0" type="fill">
    <data_defined_properties>
     <Option type="Map">
      <Option name="name" type="QString" value="" />
      <Option name="properties" />
      <Option name="type" type="QString" value="collection" />
     </Option>
    </data_defined_properties>
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <Option type="Map">
      <Option name="border_width_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="color" type="QString" value="189,189,189,255" />
      <Option name="joinstyle" type="QString" value="bevel" />
      <Option name="offset" type="QString" value="0,0" />
      <Option name="offset_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="offset_unit" type="QString" value="MM" />
      <Option name="outline_color" type="QString" value="99,99,99,255" />
      <Option name="outline_style" type="QString" value="solid" />
      <Option name="outline_width" type="QString" value="0.26" />
      <Option name="outline_width_unit" type="QString" value="MM" />
      <Option name="style" type="QString" value="solid" />
     </Option>
     <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="color" v="189,189,189,255" />
     <prop k="joinstyle" v="bevel" />
     <prop k="offset" v="0,0" />
     <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="offset_unit" v="MM" />
     <prop k="outline_color" v="99,99,99,255" />
     <prop k="outline_style" v="solid" />
     <prop k="outline_width" v="0.26" />
     <prop k="outline_width_unit" v="MM" />
     <prop k="style" v="solid" />
     <data_defined_properties>
      <Option type="Map">
       <Option name="name" type="QString" value="" />
       <Option name="properties" />
       <Option name="type" type="QString" value="collection" />
      </Option>
     </data_defined_properties>
    </layer>
   </symbol>
   <symbol alpha="1" clip_to_extent="1" force_rhr="0" name="1" type="fill">
    <data_defined_properties>
     <Option type="Map">
      <Option name="name" type="QString" value="" />
      <Option name="properties" />
      <Option name="type" type="QString" value="collection" />
     </Option>
    </data_defined_properties>
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <Option type="Map">
      <Option name="border_width_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="color" type="QString" value="26,150,65,255" />
      <Option name="joinstyle" type="QString" value="bevel" />
      <Option name="offset" type="QString" value="0,0" />
      <Option name="offset_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="offset_unit" type="QString" value="MM" />
      <Option name="outline_color" type="QString" value="77,77,77,255" />
      <Option name="outline_style" type="QString" value="solid" />
      <Option name="outline_width" type="QString" value="0.2" />
      <Option name="outline_width_unit" type="QString" value="MM" />
      <Option name="style" type="QString" value="solid" />
     </Option>
     <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="color" v="26,150,65,255" />
     <prop k="joinstyle" v="bevel" />
     <prop k="offset" v="0,0" />
     <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="offset_unit" v="MM" />
     <prop k="outline_color" v="77,77,77,255" />
     <prop k="outline_style" v="solid" />
     <prop k="outline_width" v="0.2" />
     <prop k="outline_width_unit" v="MM" />
     <prop k="style" v="solid" />
     <data_defined_properties>
      <Option type="Map">
       <Option name="name" type="QString" value="" />
       <Option name="properties" />
       <Option name="type" type="QString" value="collection" />
      </Option>
     </data_defined_properties>
    </layer>
   </symbol>
   <symbol alpha="1" clip_to_extent="1" force_rhr="0" name="2" type="fill">
    <data_defined_properties>
     <Option type="Map">
      <Option name="name" type="QString" value="" />
      <Option name="properties" />
      <Option name="type" type="QString" value="collection" />
     </Option>
    </data_defined_properties>
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <Option type="Map">
      <Option name="border_width_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="color" type="QString" value="166,217,106,255" />
      <Option name="joinstyle" type="QString" value="bevel" />
      <Option name="offset" type="QString" value="0,0" />
      <Option name="offset_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="offset_unit" type="QString" value="MM" />
      <Option name="outline_color" type="QString" value="77,77,77,255" />
      <Option name="outline_style" type="QString" value="solid" />
      <Option name="outline_width" type="QString" value="0.2" />
      <Option name="outline_width_unit" type="QString" value="MM" />
      <Option name="style" type="QString" value="solid" />
     </Option>
     <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="color" v="166,217,106,255" />
     <prop k="joinstyle" v="bevel" />
     <prop k="offset" v="0,0" />
     <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="offset_unit" v="MM" />
     <prop k="outline_color" v="77,77,77,255" />
     <prop k="outline_style" v="solid" />
     <prop k="outline_width" v="0.2" />
     <prop k="outline_width_unit" v="MM" />
     <prop k="style" v="solid" />
     <data_defined_properties>
      <Option type="Map">
       <Option name="name" type="QString" value="" />
       <Option name="properties" />
       <Option name="type" type="QString" value="collection" />
      </Option>
     </data_defined_properties>
    </layer>
   </symbol>
   <symbol alpha="1" clip_to_extent="1" force_rhr="0" name="3" type="fill">
    <data_defined_properties>
     <Option type="Map">
      <Option name="name" type="QString" value="" />
      <Option name="properties" />
      <Option name="type" type="QString" value="collection" />
     </Option>
    </data_defined_properties>
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <Option type="Map">
      <Option name="border_width_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="color" type="QString" value="255,255,191,255" />
      <Option name="joinstyle" type="QString" value="bevel" />
      <Option name="offset" type="QString" value="0,0" />
      <Option name="offset_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="offset_unit" type="QString" value="MM" />
      <Option name="outline_color" type="QString" value="77,77,77,255" />
      <Option name="outline_style" type="QString" value="solid" />
      <Option name="outline_width" type="QString" value="0.2" />
      <Option name="outline_width_unit" type="QString" value="MM" />
      <Option name="style" type="QString" value="solid" />
     </Option>
     <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="color" v="255,255,191,255" />
     <prop k="joinstyle" v="bevel" />
     <prop k="offset" v="0,0" />
     <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="offset_unit" v="MM" />
     <prop k="outline_color" v="77,77,77,255" />
     <prop k="outline_style" v="solid" />
     <prop k="outline_width" v="0.2" />
     <prop k="outline_width_unit" v="MM" />
     <prop k="style" v="solid" />
     <data_defined_properties>
      <Option type="Map">
       <Option name="name" type="QString" value="" />
       <Option name="properties" />
       <Option name="type" type="QString" value="collection" />
      </Option>
     </data_defined_properties>
    </layer>
   </symbol>
   <symbol alpha="1" clip_to_extent="1" force_rhr="0" name="4" type="fill">
    <data_defined_properties>
     <Option type="Map">
      <Option name="name" type="QString" value="" />
      <Option name="properties" />
      <Option name="type" type="QString" value="collection" />
     </Option>
    </data_defined_properties>
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <Option type="Map">
      <Option name="border_width_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="color" type="QString" value="253,174,97,255" />
      <Option name="joinstyle" type="QString" value="bevel" />
      <Option name="offset" type="QString" value="0,0" />
      <Option name="offset_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="offset_unit" type="QString" value="MM" />
      <Option name="outline_color" type="QString" value="77,77,77,255" />
      <Option name="outline_style" type="QString" value="solid" />
      <Option name="outline_width" type="QString" value="0.2" />
      <Option name="outline_width_unit" type="QString" value="MM" />
      <Option name="style" type="QString" value="solid" />
     </Option>
     <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="color" v="253,174,97,255" />
     <prop k="joinstyle" v="bevel" />
     <prop k="offset" v="0,0" />
     <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="offset_unit" v="MM" />
     <prop k="outline_color" v="77,77,77,255" />
     <prop k="outline_style" v="solid" />
     <prop k="outline_width" v="0.2" />
     <prop k="outline_width_unit" v="MM" />
     <prop k="style" v="solid" />
     <data_defined_properties>
      <Option type="Map">
       <Option name="name" type="QString" value="" />
       <Option name="properties" />
       <Option name="type" type="QString" value="collection" />
      </Option>
     </data_defined_properties>
    </layer>
   </symbol>
   <symbol alpha="1" clip_to_extent="1" force_rhr="0" name="5" type="fill">
    <data_defined_properties>
     <Option type="Map">
      <Option name="name" type="QString" value="" />
      <Option name="properties" />
      <Option name="type" type="QString" value="collection" />
     </Option>
    </data_defined_properties>
    <layer class="SimpleFill" enabled="1" locked="0" pass="0">
     <Option type="Map">
      <Option name="border_width_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="color" type="QString" value="215,25,28,255" />
      <Option name="joinstyle" type="QString" value="bevel" />
      <Option name="offset" type="QString" value="0,0" />
      <Option name="offset_map_unit_scale" type="QString" value="3x:0,0,0,0,0,0" />
      <Option name="offset_unit" type="QString" value="MM" />
      <Option name="outline_color" type="QString" value="77,77,77,255" />
      <Option name="outline_style" type="QString" value="solid" />
      <Option name="outline_width" type="QString" value="0.2" />
      <Option name="outline_width_unit" type="QString" value="MM" />
      <Option name="style" type="QString" value="solid" />
     </Option>
     <prop k="border_width_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="color" v="215,25,28,255" />
     <prop k="joinstyle" v="bevel" />
     <prop k="offset" v="0,0" />
     <prop k="offset_map_unit_scale" v="3x:0,0,0,0,0,0" />
     <prop k="offset_unit" v="MM" />
     <prop k="outline_color" v="77,77,77,255" />
     <prop k="outline_style" v="solid" />
     <prop k="outline_width" v="0.2" />
     <prop k="outline_width_unit" v="MM" />
     <prop k="style" v="solid" />
     <data_defined_properties>
      <Option type="Map">
       <Option name="name" type="QString" value="" />
       <Option name="properties" />
       <Option name="type" type="QString" value="collection" />
      </Option>
     </data_defined_properties>
    </layer>
   </symbol>
  </symbols>
  <rotation />
  <sizescale />
 </renderer-v2>
 <customproperties>
  <Option />
 </customproperties>
 <blendMode>0</blendMode>
 <featureBlendMode>0</featureBlendMode>
 <layerOpacity>1</layerOpacity>
 <geometryOptions geometryPrecision="0" removeDuplicateNodes="0">
  <activeChecks type="StringList">
   <Option type="QString" value="" />
  </activeChecks>
  <checkConfiguration />
 </geometryOptions>
 <legend showLabelLegend="0" type="default-vector" />
 <referencedLayers />
 <fieldConfiguration>
  <field configurationFlags="None" name="ls_zone">
   <editWidget type="">
    <config>
     <Option />
    </config>
   </editWidget>
  </field>
 </fieldConfiguration>
 <aliases>
  <alias field="ls_zone" index="0" name="" />
 </aliases>
 <defaults>
  <default applyOnUpdate="0" expression="" field="ls_zone" />
 </defaults>
 <constraints>
  <constraint constraints="0" exp_strength="0" field="ls_zone" notnull_strength="0" unique_strength="0" />
 </constraints>
 <constraintExpressions>
  <constraint desc="" exp="" field="ls_zone" />
 </constraintExpressions>
 <expressionfields />
 <attributeactions />
 <attributetableconfig actionWidgetStyle="dropDown" sortExpression="" sortOrder="0">
  <columns />
 </attributetableconfig>
 <conditionalstyles>
  <rowstyles />
  <fieldstyles />
 </conditionalstyles>
 <storedexpressions />
 <editform tolerant="1" />
 <editforminit />
 <editforminitcodesource>0</editforminitcodesource>
 <editforminitfilepath />
 <editforminitcode />
 <featformsuppress>0</featformsuppress>
 <editorlayout>generatedlayout</editorlayout>
 <editable />
 <labelOnTop />
 <reuseLastValue />
 <dataDefinedFieldProperties />
 <widgets />
 <previewExpression />
 <mapTip />
 <layerGeometryType>2</layerGeometryType>
</qgis>
